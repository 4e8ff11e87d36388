"""Test support: real brokers, shared assets, condition waits. No mocks of the network."""
