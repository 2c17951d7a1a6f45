"""Training runs: the loop of Algorithm 1 around fastgan.step (loop), a member's outputs
(outputs), its metrics and progress (log), the run folder and its rules (folder), and the
`fastgan.train` command (command)."""
