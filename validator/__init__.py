"""ChainBeasts validator: replay a committed training window and say whether its word is honest.

* :mod:`validator.replay` — the library: verify the start state against the previous committed
  h128 (or regenerate genesis), check dataset (within the season's size limit) and owner
  secret against the beast's commitments, then replay through the kernel's one replay path
  (``kernel.replay``: the words compared field by field, the reason an illegal word is
  illegal, the first divergent step from the trainer's digests). It imports no gRPC.
* :mod:`validator.service` — ``chainbeasts.v1.ValidatorService`` over gRPC
  (``create_server(address, backend) -> (server, port)``), with health and reflection;
  :mod:`validator.grpc_status` maps each error to its status code.
* :mod:`validator.chain` — the one chain reader: hatch data, committed words, epoch seeds and
  season constants from the ledger, over the devnet bindings, with a caller-chosen error map.
* :mod:`validator.node_client` — checkpoint states and step digests from a trainer node.
* :mod:`validator.allowlist` — which trainer nodes a service request may make the validator dial.
* :mod:`validator.bisection` — the bisection player: both sides of a BisectionGame 2.1.0 game
  (step sources, the next move, one move sent); the node's defence imports it too.
* :mod:`validator.lineage` — one beast's lineage as a watcher verifies it, window after window.
* :mod:`validator.watch` — watch the chain: replay every window it can, challenge the divergent
  ones (commit-reveal), play those games, claim; :mod:`validator.watch_record` keeps its salts and games.
* :mod:`validator.challenge_salt` — a challenge commitment that survives a crash (its salt recorded before
  commitChallenge is sent, resumed after), shared by the watcher and ``cb-dispute challenge``;
  :mod:`validator.crash` is the crash-injection hook its tests kill the process at.
* :mod:`validator.cli` — ``cb-validator serve | replay | watch``.
* :mod:`validator.dispute` — the challenger's side by hand (``cb-dispute``, :mod:`validator.dispute_cli`):
  one module per step, from reading a window to claiming the reward.

Every refusal is a :class:`validator.errors.ValidatorError` carrying its CLI exit code (its
gRPC status is :func:`validator.grpc_status.status_of`); no message contains an owner secret.
"""
