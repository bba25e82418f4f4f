"""Models of the test app: concrete spans and segments for every range type."""
