"""What the ``ecom`` command line runs: materialize the batch graph, replay hours, check the machine."""
