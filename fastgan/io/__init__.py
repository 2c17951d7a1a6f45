"""I/O helpers that every room uses: atomic files and digests (files), PNG grids (images),
figures (plots), checkpoints, the device flag, and command-line plumbing (cli). Nothing here
imports the engine, run/ or eval/."""
