"""Platform adapters: verify, talk to the platform, map payloads to plain records. Never imports app/."""
