"""The three challenge tasks, each implementing the contract of ``models.tasks.contract``, the
registry that finds them, and the pipeline they all go through."""
