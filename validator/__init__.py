"""ChainBeasts validator: replay a committed training window and say whether its word is honest.

* :mod:`validator.replay` — the library: verify the start state against the previous committed
  h128 (or regenerate genesis), check dataset and owner secret against the beast's
  commitments, replay the 128 micro-steps with the kernel, compare the words field by field
  and locate the first divergent step from the trainer's digests.
* :mod:`validator.service` — ``chainbeasts.v1.ValidatorService`` over gRPC
  (``create_server(address, backend) -> (server, port)``), with health and reflection.
* :mod:`validator.chain` — hatch data, committed words and epoch seeds from the ledger.
* :mod:`validator.node_client` — checkpoint states and step digests from a trainer node.
* :mod:`validator.allowlist` — which trainer nodes a service request may make the validator dial.
* :mod:`validator.watch` — answer on-chain disputes: replay, vote once, remember the vote.
* :mod:`validator.cli` — ``cb-validator serve | replay | register | withdraw | status | watch``.

Every refusal is a :class:`validator.errors.ValidatorError` carrying its gRPC status and CLI
exit code; no message contains an owner secret.
"""
