"""The shipped topic catalogue (topics.yaml), installed as the package ``bot.config``."""
