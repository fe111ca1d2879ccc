"""Infrastructure as code for ekiosk: generators and offline validations (see infra/generate.py)."""
