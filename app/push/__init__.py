"""The push pipeline: APNs and relay senders, the outbox worker, certificate checks."""
