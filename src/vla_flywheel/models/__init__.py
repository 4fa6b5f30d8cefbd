"""Small models trained from scratch: tokenizer, encoders, the policy (and, later, judges and world models)."""
