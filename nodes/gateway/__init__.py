"""The payment gateway stand-in (see app.py): a real HTTP service with its own key."""
