#!/usr/bin/env bash
# cloudvamp installer for the OpenNebula front-end.
# Not done yet: installing the remotes tree, the driver stanzas and the
# elasticity manager's service unit is the subject of the install issue.
# Until then, copy dist/remotes/ into /var/lib/one/remotes/ by hand (see README).
echo "install.sh: not implemented yet; see README, section 'Installing by hand'" >&2
exit 1
