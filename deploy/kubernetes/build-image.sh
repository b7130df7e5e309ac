#!/usr/bin/env bash
# Build the students' single-user image for Zero to JupyterHub with repo2docker:
# the students' environment (binder/: environment.yml, postBuild) of the branch
# students get (`make student-branch`), plus deploy/kubernetes/appendix.Dockerfile.
#
#   deploy/kubernetes/build-image.sh https://github.com/OWNER/netlesson students ghcr.io/OWNER/netlesson-student
#   docker push ghcr.io/OWNER/netlesson-student:<the tag it prints>
#
# Needs Docker and repo2docker (pip install jupyter-repo2docker; the `ci` extra has it).
# Put the printed name and tag into values.yaml (singleuser.image).
set -euo pipefail
repo=${1:?"usage: $0 REPOSITORY_URL BRANCH IMAGE_NAME"}
branch=${2:?"usage: $0 REPOSITORY_URL BRANCH IMAGE_NAME"}
image=${3:?"usage: $0 REPOSITORY_URL BRANCH IMAGE_NAME"}
here=$(cd "$(dirname "$0")" && pwd)
commit=$(git ls-remote "$repo" "refs/heads/$branch" | cut -c1-12)
[ -n "$commit" ] || { echo "no branch $branch in $repo" >&2; exit 1; }
repo2docker --no-run --user-name jovyan --user-id 1000 \
    --ref "$commit" --image-name "$image:$commit" \
    --appendix "$(cat "$here/appendix.Dockerfile")" "$repo"
echo "built $image:$commit -- push it, then set singleuser.image.tag: \"$commit\" in values.yaml"
