"""A lab of several racks: each rack is a place in a labgrid coordinator, and a night can be sharded across them.

- `places`: find, reserve, acquire and release racks through the coordinator.
- `client`: the coordinator's client, in this process (labgrid's own client session).
- `coordinator`: a coordinator of one's own on loopback, and simulated racks registered as places in it (the
  rig's own tests and `make bench`).
- `shard`: how a night is split over the racks one run holds (a pytest-xdist scheduler).
- `run`: the `rig run` subcommand.
- `bench`: the wall time of a plan sharded over N simulated racks, for `make bench`.

The pytest side lives in `rig.fixtures.places`.
"""
