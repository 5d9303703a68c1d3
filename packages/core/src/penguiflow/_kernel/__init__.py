"""The runtime kernel: floes, trace bookkeeping, event delivery, workers and the node context.

Private: users reach these through `penguiflow.core.PenguiFlow` (the facade),
`penguiflow.context.Context` and `penguiflow.floe.Floe`. The kernel imports
only the data types below it (`penguiflow.types`, ``node``, ``errors``,
``events``, ``graph``, ``registry``, ``protocols``) — never a feature, the
facade or a tool — and it holds no reference to the facade: workers are
handed a `NodeHost` with what node code may reach beyond the kernel.
"""

__all__: list[str] = []
