"""Local actions: an alert drives a relay, a reader's LED or buzzer, a LAN device's HTTP endpoint or a program.

The runner (runner.py) hears every stored alert, matches it against the configured actions and
runs each match on that action's own worker, off the rule threads; every run, and every refusal,
becomes an `action` record in the outbox. Kinds: http.py, command.py, osdp_output.py.
"""
