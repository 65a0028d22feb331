"""kopf handlers: thin functions that call the workflows and report through the named status functions."""
