#!/usr/bin/env bash
# Prepares what test/vm/run-vm.ts boots: a Debian cloud kernel (it has ipvlan and 8021q as modules,
# unlike some host kernels) and a base initramfs with busybox, those modules and iproute2.
#
# Outputs, in test/vm/.cache/:
#   vmlinuz        the kernel
#   base.cpio.gz   busybox + applet links, /lib/modules/load-order + the .ko files, host_tools + their libs
#   stamp          hash of this script; when it matches, nothing is redone (and no network is needed)
#
# Exits 77 after printing "SKIP: <reason>" when qemu or the kernel package cannot be had.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="$here/.cache"

# Modules to load at boot, by name; their dependencies are added from modules.dep.
modules=(ipvlan 8021q bridge veth macvlan dummy)
# Host executables shipped in the initramfs, replacing busybox applets of the same name: busybox's ip
# lacks netns and most link kinds. This busybox runs its own applet for any command named like one
# (even "sh -c ip ..."), so the shell and the tools that run commands come from the host too.
host_tools=(/usr/sbin/ip /usr/sbin/bridge /bin/dash /usr/bin/nsenter /usr/bin/unshare /usr/bin/timeout /usr/bin/env)
busybox=/bin/busybox

skip() {
	echo "SKIP: $*"
	exit 77
}

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"

mkdir -p "$cache"
# Test files run in parallel, and each may call this.
exec 9>"$cache/lock"
flock 9

stamp=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
if [[ -f $cache/stamp && $(cat "$cache/stamp") == "$stamp" && -f $cache/vmlinuz && -f $cache/base.cpio.gz ]]; then
	exit 0
fi

[[ -x $busybox ]] && ! ldd "$busybox" >/dev/null 2>&1 ||
	skip "$busybox is missing or not static (apt-get install busybox-static)"
for tool in cpio gzip apt-get dpkg-deb "${host_tools[@]}"; do
	command -v "$tool" >/dev/null || skip "$tool not found"
done

# linux-image-cloud-amd64 is a metapackage; its dependency names the versioned kernel package.
kernel_package() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1
}
package=$(kernel_package)
if [[ -z $package ]]; then
	apt-get update -qq >/dev/null 2>&1 || true
	package=$(kernel_package)
fi
[[ -n $package ]] || skip "cannot resolve linux-image-cloud-amd64 with apt-cache (is this Debian?)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Keep the .deb: re-preparing after an edit of this script then needs no network.
deb=$(ls "$cache"/"$package"_*.deb 2>/dev/null | head -n1 || true)
if [[ -z $deb ]]; then
	# apt-get download writes to the working directory; _apt cannot always write there, hence -o.
	(cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$package" >/dev/null) ||
		skip "apt-get download $package failed"
	deb=$(ls "$cache"/"$package"_*.deb | head -n1)
fi
dpkg-deb -x "$deb" "$work/pkg"

kver=${package#linux-image-}
moddir="$work/pkg/lib/modules/$kver"
[[ -d $moddir ]] || skip "$deb has no lib/modules/$kver"
# The package ships no modules.dep (its postinst runs depmod); busybox can make one.
"$busybox" depmod -b "$work/pkg" "$kver"

# modules.dep lines are "path: dep dep ...", listing each module's whole dependency closure; loading
# each dependency's own dependencies first orders the list however the closure is sorted.
declare -A dep_line=() ordered=()
while IFS= read -r line; do dep_line[${line%%:*}]=${line#*:}; done <"$moddir/modules.dep"
load_order=()
add_module() {
	local path=$1 dep
	[[ -z ${ordered[$path]:-} ]] || return 0
	ordered[$path]=1
	for dep in ${dep_line[$path]}; do add_module "$dep"; done
	load_order+=("$path")
}
for name in "${modules[@]}"; do
	line=$(grep -E "(^|/)$name\.ko(\.[a-z]+)?:" "$moddir/modules.dep") || skip "module $name not in $kver"
	add_module "${line%%:*}"
done

root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,run,tmp,etc}
mkdir -p "$root/var" && ln -s ../run "$root/var/run"

cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done

: >"$root/lib/modules/load-order"
for path in "${load_order[@]}"; do
	ko="${path##*/}"
	case $ko in
	*.xz) xz -dc "$moddir/$path" >"$root/lib/modules/${ko%.xz}" && ko=${ko%.xz} ;;
	*) cp "$moddir/$path" "$root/lib/modules/$ko" ;;
	esac
	echo "$ko" >>"$root/lib/modules/load-order"
done

# Copies an ELF and the shared libraries ldd names to the same paths inside the root.
copy_with_libs() {
	local exe=$1 dest=$2 lib
	install -D "$exe" "$root$dest"
	for lib in $(ldd "$exe" | grep -oE '/[^ ]+'); do
		[[ -e $root$lib ]] || install -D "$(readlink -f "$lib")" "$root$lib"
	done
}
for tool in "${host_tools[@]}"; do
	rm -f "$root/bin/${tool##*/}"
	copy_with_libs "$(readlink -f "$tool")" "$tool"
done
ln -sf dash "$root/bin/sh"

cp "$(ls "$work/pkg/boot"/vmlinuz-*)" "$cache/vmlinuz"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -6 >"$cache/base.cpio.gz.new"
mv "$cache/base.cpio.gz.new" "$cache/base.cpio.gz"
echo "$package" >"$cache/kernel-package"
echo "$stamp" >"$cache/stamp"
echo "prepared $package with modules: $(tr '\n' ' ' <"$root/lib/modules/load-order")"
