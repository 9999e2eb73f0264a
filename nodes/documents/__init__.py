"""Trade documents on a member node: submit, batch-anchor, deliver, receive, verify, trace."""
