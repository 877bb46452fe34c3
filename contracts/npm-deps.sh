# Sourced by build.sh / check-fresh.sh: installs the pinned npm packages
# (solc, Solady, anvil, ethers) from package-lock.json when node_modules is
# missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
