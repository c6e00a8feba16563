"""The CRI container runtime: a gRPC runtime.v1 service over a unix socket."""
