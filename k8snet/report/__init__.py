"""Reports with plots: `k8snet compare --report DIR [--repeat N]`.

Split as build -> render -> write (the ipmininet way): `figures` turns the
raw results of N comparison runs into plain series and rows (pure, tested
with recorded figures); `plots` draws those series with matplotlib (the
Agg backend: no display); `html` writes ``report.html`` beside the plots,
the raw JSON and the CSV.
"""
