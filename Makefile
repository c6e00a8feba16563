# k8snet: `sudo make demo` runs the main job, `sudo make test` the whole suite.
# Both run `setup` first; it is idempotent and quick when nothing is missing.

VENV    ?= /opt/k8snet/venv
PY      := $(VENV)/bin/python
BIN     ?= /usr/local/bin
DEB_PKGS := mininet openvswitch-switch containernetworking-plugins \
	etcd-server etcd-client iperf3 iputils-ping ethtool iptables nftables \
	tcpdump busybox-static iproute2 python3-venv procps psmisc conntrack curl \
	bind9-dnsutils perl tmux chromium chromium-driver dnsmasq-base conmon crun

.PHONY: setup deps venv venv-install bytecode ovs demo test lint unit component integration bench \
	fuzz clean reliability leaks

setup: deps venv bytecode ovs

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Debian's Mininet lives in Debian's Python, so the venv is made from
# /usr/bin/python3 with --system-site-packages. k8snet is installed editable
# from this checkout; the stamp names the checkout and setup.py's hash, so a
# clone elsewhere or a changed setup.py installs again.
STAMP := $(CURDIR) $(shell sha1sum setup.py | cut -c1-12)

venv:
	@test "$$(cat $(VENV)/.installed 2>/dev/null)" = "$(STAMP)" || $(MAKE) --no-print-directory venv-install

venv-install:
	test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m k8snet.cri.build
	ln -sf $(VENV)/bin/k8snet $(BIN)/k8snet
	echo "$(STAMP)" > $(VENV)/.installed

# Every component is a new Python process: without cached bytecode each one compiles
# k8snet's modules again (with PYTHONDONTWRITEBYTECODE=1 that is on every start, about a
# third of the apiserver's time to ready). Cached ones are read even then; incremental.
bytecode:
	@$(PY) -m compileall -q k8snet controllers topologies >/dev/null

ovs:
	@ovs-vsctl --timeout=5 show >/dev/null 2>&1 || \
	  /usr/share/openvswitch/scripts/ovs-ctl start >/dev/null 2>&1 || true
	@ovs-vsctl --timeout=5 show >/dev/null || (echo "Open vSwitch did not start" && exit 1)

demo: setup
	$(BIN)/k8snet demo

lint: setup
	$(VENV)/bin/ruff check .

unit: setup
	$(PY) -m pytest -q tests/unit

component: setup
	$(PY) -m pytest -q tests/component

integration: setup
	$(PY) -m pytest -q tests/integration

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider --durations=40 tests/unit tests/component tests/integration

# every benchmark, its output shown as it runs; $(BENCH_REPORT)/bench.html renders
# what they printed (k8snet/report/bench.py)
BENCH_REPORT ?= bench-report
bench: setup
	$(PY) -m benchmarks --report $(BENCH_REPORT)

# 10,000 hypothesis-generated requests against a live apiserver; prints the answers by
# status and fails on any 5xx, dropped connection or traceback (make test sends 1,500)
fuzz: setup
	$(PY) -m benchmarks.bench_fuzz --examples 10000

# Faults injected with `k8snet fault` and the cluster's recovery, including the long
# cases `make test` skips (worker crash and eviction, restart back-off), then the
# longer figures of benchmarks/bench_faults.py.
reliability: setup
	K8SNET_RELIABILITY=1 $(PY) -m pytest -q -s -p no:cacheprovider tests/integration/test_reliability.py
	$(PY) -m benchmarks.bench_faults

# 20 up/down cycles and 5 up + kill -9 supervisor + clean: nothing may be left
# (about 20 minutes; not part of `make test`).
leaks: setup
	$(PY) -m benchmarks.bench_leaks

clean:
	-$(BIN)/k8snet clean
