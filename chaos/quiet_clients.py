"""librdkafka settings of the run's own clients: the workload, the bad input, the tap, the dump.

The run takes the broker down on purpose, so those clients' connection errors are expected, and
librdkafka would print every reconnect attempt (hundreds a second) over the run's console. The
orchestrators and services log theirs to their own files, where they belong.
"""

QUIET: dict[str, str] = {"log_level": "2"}  # syslog levels: 2 = critical only
