"""The process-level stop (連携停止): each process's state, from ``linkage.control`` to every number partition.

The headquarters publishes a process's state to the compacted topic
``linkage.control`` (keyed by process code) once a second person approved
it. Records of one process carry numbers of every partition, so each state
goes to *every* partition of ``linkage.records-by-number``
(:class:`~streams.stages.messages.ProcessControl`), where the number stage
keeps it and applies it (:mod:`streams.stages.by_number`).
"""

from __future__ import annotations

import logging

import schemas
from streams.stages.base import Message, Outputs, StageConfig, dead_letter
from streams.stages.messages import ProcessControl

log = logging.getLogger(__name__)

__all__ = ["ControlRouter"]


class ControlRouter:
    def __init__(self, config: StageConfig, codec: schemas.Codec) -> None:
        self.config = config
        self.codec = codec

    def handle(self, batch: list[Message]) -> Outputs:
        out = Outputs()
        for message in batch:
            if message.value is None:  # a tombstone: the state is kept until a resume says otherwise
                continue
            try:
                control = self.codec.decode("process_control", message.value)
            except schemas.DecodeError as e:
                dead_letter(self.codec, out, self.config, topic=message.topic, partition=message.partition,
                            offset=message.offset, key=message.key, value=message.value, reason="UNDECODABLE",
                            error=str(e), stage="control", dlq_key=message.key)
                continue
            item = ProcessControl(control["system"], bool(control["stopped"]), message.offset,
                                  control.get("stop_id") or "")
            for partition in range(self.config.partitions):
                out.forward(self.config.names.by_number, partition, item)
            log.warning("process %s: linkage %s", control["system"], "stopped" if control["stopped"] else "resumed")
        return out
