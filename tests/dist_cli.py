"""`dalr COMMAND ...` in one process of a `torchrun` launch, then a line on stderr saying whether this rank's process
group is still running once the command has returned (tests/test_distributed.py)."""
import os, sys
import torch.distributed as dist
from dalr.cli import main

rc = main(sys.argv[1:])
print(f"rank {os.environ.get('RANK', '0')}: process group {'running' if dist.is_initialized() else 'ended'}", file=sys.stderr)
sys.exit(rc)
