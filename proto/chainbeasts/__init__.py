"""Generated gRPC code for the chainbeasts.v1 protos (see proto/)."""
