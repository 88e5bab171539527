"""One module per screen; modal dialogs in `dialogs`."""
