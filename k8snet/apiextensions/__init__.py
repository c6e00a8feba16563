"""CustomResourceDefinitions (apiextensions.k8s.io/v1), as apiextensions-apiserver 1.32.

Pure modules (plain dicts in, plain data out; no I/O):

    goerrors      field errors and paths rendered as Go's field.Error renders them
    structural    is an openAPIV3Schema structural? (ValidateStructural + completeness)
    crdvalidation validation of a CustomResourceDefinition object (create and update)
    crddefaults   v1 defaulting of a CustomResourceDefinition
    crdstatus     acceptedNames and the NamesAccepted / Established / NonStructuralSchema
                  / Terminating conditions, storedVersions
    pruning       dropping fields the schema does not know (and where they were)
    defaulting    filling `default` values from the schema
    crvalidation  validating a custom resource against its schema (kube-openapi's rules
                  and messages, jsonschema underneath), list-type uniqueness, embedded
                  resources
    jsonpath      the JSONPath subset of additionalPrinterColumns and scale paths
"""
