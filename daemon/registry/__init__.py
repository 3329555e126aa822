"""The case registry: tables (`models`), the state machine (`states`), the only module that
changes cases (`cases`), durable raw storage (`store`) and read-only lookups (`lookup`)."""
