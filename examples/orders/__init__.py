"""The order-fulfilment demo: a saga across inventory, payments and shipping."""
