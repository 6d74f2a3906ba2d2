"""TUI widgets, one domain per module: the flow timeline, the payment inspector, tickets, balances,
the walkthrough narrative and the modal dialogs."""
