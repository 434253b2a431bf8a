#!/bin/sh
# /init of the test VM (dash, see prepare.sh): mount the basics, load the modules prepare.sh chose, run
# /vm/test.sh with /vm/lib.sh sourced, report its status as "VM-EXIT <n>", power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns

while read -r ko; do
	insmod "/lib/modules/$ko" || echo "FAIL insmod-$ko"
done </lib/modules/load-order
ip link set lo up

echo "VM-START"
cd /tmp && sh -c '. /vm/lib.sh && . /vm/test.sh'
echo "VM-EXIT $?"
poweroff -f
