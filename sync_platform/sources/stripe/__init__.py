"""The Stripe source connector."""
