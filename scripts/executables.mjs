// Every single-file executable: its TypeScript entry and where it sits under
// dist/ (the layout of OpenNebula's remotes tree, plus the front-end tools).
// One line each; the build, install.sh and the tests read this list.
export const executables = [
  // IM probes (OpenNebula 5.12+ monitord categories)
  // VMM actions
  // front-end tools
];
