"""A plugin written against cloudify-common, as Cloudify plugins are."""
