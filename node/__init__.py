"""ChainBeasts trainer node (`cb-node`).

Modules: ``cli`` / ``daemon_cli`` (commands), ``daemon`` (run loop, pid lock),
``trainer`` (Engine: coordinates the jobs below), ``hatching`` (hatch, finish interrupted hatches,
adopt), ``hatch_journal`` (hatch transactions recorded before broadcast), ``beast_meta``
(typed ``beast.json``), ``beast_run`` (open a beast's run directory), ``reconcile`` (local index
vs. ledger on start), ``training`` (train and persist a window), ``committing`` (commit and
finalize windows), ``metrics`` (metric event bus), ``store`` (run directory: checkpoints, SQLite
index, logs), ``chain`` (ChainClient: local signing, nonces, retries, confirmations,
dropped/replaced detection), ``ledger`` (contract calls), ``embedded`` (devnet / RPC connection),
``service`` (gRPC NodeService + health; its default limits in ``service_limits``), ``config``
(node.toml, keystore), ``control`` (control file, pid and `cb-node status`, without the daemon's
heavy imports), ``signed_tx`` (a signed transaction record), ``demo``
(`cb-node demo`), ``crash`` (crash-injection hook and the list of crash points, for tests).
"""
