"""Reference workflows: real LangGraph graphs with tiers, run by the tests."""
