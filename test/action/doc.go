// Package action tests the tagpin GitHub Action (action.yml at the
// repository root): it runs the action's pin step, the script
// hack/github-action.sh, the way the runner would, with the built tagpin
// binary against an in-process registry, and checks the files, the
// step's outputs, the job summary and the annotations; and the hooks of
// .pre-commit-hooks.yaml the way pre-commit runs them.
package action
