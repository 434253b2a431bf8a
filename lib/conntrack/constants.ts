// ctnetlink uapi values, from /usr/include/linux/netfilter/{nfnetlink,nfnetlink_conntrack}.h,
// except the CTA_FILTER_F_* bits, which only the kernel's net/netfilter/nf_internals.h defines.

// linux/netfilter/nfnetlink.h
export const NFNL_SUBSYS_CTNETLINK = 1;

// enum cntl_msg_types
export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;

// enum ctattr_type
export const CTA_TUPLE_ORIG = 1;
export const CTA_TUPLE_REPLY = 2;
export const CTA_ID = 12;
export const CTA_ZONE = 18;
export const CTA_FILTER = 25;

// enum ctattr_tuple
export const CTA_TUPLE_IP = 1;
export const CTA_TUPLE_PROTO = 2;
export const CTA_TUPLE_ZONE = 3;

// enum ctattr_ip
export const CTA_IP_V4_SRC = 1;
export const CTA_IP_V4_DST = 2;
export const CTA_IP_V6_SRC = 3;
export const CTA_IP_V6_DST = 4;

// enum ctattr_l4proto
export const CTA_PROTO_NUM = 1;
export const CTA_PROTO_SRC_PORT = 2;
export const CTA_PROTO_DST_PORT = 3;

// enum ctattr_filter
export const CTA_FILTER_ORIG_FLAGS = 1;
export const CTA_FILTER_REPLY_FLAGS = 2;

// net/netfilter/nf_internals.h (Linux >= 5.8): which tuple fields a CTA_FILTER compares.
export const CTA_FILTER_F_CTA_IP_SRC = 1 << 0;
export const CTA_FILTER_F_CTA_IP_DST = 1 << 1;
export const CTA_FILTER_F_CTA_TUPLE_ZONE = 1 << 2;
export const CTA_FILTER_F_CTA_PROTO_NUM = 1 << 3;
export const CTA_FILTER_F_CTA_PROTO_SRC_PORT = 1 << 4;
export const CTA_FILTER_F_CTA_PROTO_DST_PORT = 1 << 5;
