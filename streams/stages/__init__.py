"""The guard's stages: pure functions over typed state, one module each.

=============== =================================== ======================== ==========================
stage           input (partitioned by)              state (tables)           output
=============== =================================== ======================== ==========================
repartition     linkage.records (record key)        filed                    RecordIn/Unlink → by number,
                                                                             Member/Remove → by batch, dlq
registry        registry.residents (number)         registry                 ResidentIn → by identity,
                                                                             Recheck → by number
control         linkage.control (process code)      —                        ProcessControl → every
                                                                             number partition
by_number       records-by-number (number)          links, process_stops     PASS → verified, Lookup →
                                                                             by identity
identity        records-by-identity (birth + sex)   identities, waiting      HOLD → held, Candidate →
                                                                             by batch
by_batch        records-by-batch (system + batch)   batches                  HOLD with BATCH_SWAP → held
decisions       linkage.decisions (record key)      release_requests         release → verified
                (:mod:`streams.decisions`)
=============== =================================== ======================== ==========================

Each stage is a class whose ``handle(items, state)`` reads and changes its
typed state (:class:`~streams.stages.base.TableState` over msgspec Structs,
:mod:`streams.stages.messages`) and returns its outputs
(:class:`~streams.stages.base.Outputs`). Nothing here touches Kafka or Faust:
:mod:`streams.app` wires the stages to Faust agents and tables, and
:mod:`streams.testing` runs them on in-memory partitions.
"""
