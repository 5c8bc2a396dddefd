#!/bin/bash
# Submits the shards as a job array and the merge as a job that starts once every task of the array has succeeded
# (afterok). ARCHIVE, PARTS and OUT, when set, reach both jobs (sbatch exports the environment).
set -euo pipefail
cd "$(dirname "$0")"
shards=$(sbatch --parsable shards.sbatch)
shards=${shards%%;*}
merge=$(sbatch --parsable --dependency="afterok:${shards}" merge.sbatch)
echo "shards: job ${shards}; merge: job ${merge%%;*}"
