#!/usr/bin/env bash
# Grade a whole class on a Slurm cluster: one array task per shard, then one merge job.
#
#   bash ci/slurm-array.sh submit SUBMISSIONS_DIR OUT_DIR [SHARDS]
#
# submits an array of SHARDS tasks (default 8), each running
#   autograder batch SUBMISSIONS_DIR --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
# into OUT_DIR/shards/<K>, and a merge job that starts when every task succeeded and
# writes the class gradebook to OUT_DIR/merged. A task that is requeued or rerun resumes
# its shard (--resume) instead of starting over. Edit the #SBATCH lines for your site;
# GRES (default gpu:1) is what each grading task asks for (the merge job needs no GPU).
# Set AUTOGRADER to the kit's command if it is not on PATH (e.g.
# /opt/kit/.venv/bin/autograder) and COURSE to its course.yaml.
#SBATCH --job-name=autograde
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=02:00:00
#SBATCH --output=autograde-%A_%a.log
set -euo pipefail

AUTOGRADER="${AUTOGRADER:-autograder}"
COURSE_ARGS=()
if [ -n "${COURSE:-}" ]; then COURSE_ARGS=(--course "$COURSE"); fi

mode="${1:-}"
case "$mode" in
  submit)
    submissions="$2"; out="$3"; shards="${4:-8}"
    mkdir -p "$out/shards"
    array_job=$(sbatch --parsable --array="1-$shards" --gres="${GRES:-gpu:1}" \
        "$0" task "$submissions" "$out")
    sbatch --parsable --dependency="afterok:${array_job%%;*}" --job-name=autograde-merge \
        --time=00:15:00 "$0" merge "$out" "$shards"
    ;;
  task)
    submissions="$2"; out="$3"
    : "${SLURM_ARRAY_TASK_ID:?run through sbatch --array (or set SLURM_ARRAY_TASK_ID)}"
    : "${SLURM_ARRAY_TASK_COUNT:?run through sbatch --array (or set SLURM_ARRAY_TASK_COUNT)}"
    jobs="${SLURM_CPUS_PER_TASK:-1}"
    "$AUTOGRADER" ${COURSE_ARGS[@]+"${COURSE_ARGS[@]}"} batch "$submissions" \
        --out "$out/shards/$SLURM_ARRAY_TASK_ID" --resume --jobs "$jobs" \
        --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" ${BATCH_ARGS:-}
    ;;
  merge)
    out="$2"; shards="$3"
    shard_dirs=()
    for k in $(seq 1 "$shards"); do shard_dirs+=("$out/shards/$k"); done
    "$AUTOGRADER" ${COURSE_ARGS[@]+"${COURSE_ARGS[@]}"} merge "${shard_dirs[@]}" --out "$out/merged"
    ;;
  *)
    echo "usage: bash $0 submit SUBMISSIONS_DIR OUT_DIR [SHARDS]" >&2
    exit 2
    ;;
esac
