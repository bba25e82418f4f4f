"""Billing: customers, subscriptions made of plan periods, and offers for user segments."""
