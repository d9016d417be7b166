"""The learner's loop: the `course` command and what its subcommands do."""
