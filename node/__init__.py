"""ChainBeasts trainer node (`cb-node`).

Modules: ``cli`` / ``daemon_cli`` (commands), ``daemon`` (run loop, control file, status),
``trainer`` (Engine: hatch, train, persist, commit, reconcile, finalize), ``store`` (run
directory: checkpoints, SQLite index, logs), ``chain`` (ChainClient: local signing, nonces,
retries, confirmations, dropped/replaced detection), ``ledger`` (contract calls), ``embedded``
(devnet / RPC connection), ``service`` (gRPC NodeService + health), ``config`` (node.toml,
keystore), ``demo`` (`cb-node demo`), ``crash`` (crash-injection hook for tests).
"""
