#!/usr/bin/env bash
# A single-node Ceph cluster answering S3 (one monitor, one OSD on a file in $CEPH_DATA, one RADOS
# gateway), for the compose profile `s3`: made on the first start, started as it is afterwards.
# Creates the S3 user S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY and the bucket S3_BUCKET.
set -euo pipefail
D=${CEPH_DATA:-/var/lib/ceph-s3}
MON_PORT=${CEPH_MON_PORT:-3300}
RGW_PORT=${RGW_PORT:-7480}
OSD_SIZE=${CEPH_OSD_SIZE:-10G}
: "${S3_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID in .env (the user the gateway makes)}" "${S3_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY in .env}" "${S3_BUCKET:?set S3_BUCKET}"
CONF=$D/ceph.conf
mkdir -p "$D"/{run,log,mon,osd/ceph-0,rgw}

if [ ! -f "$D/ready" ]; then
  rm -rf "$D"/mon/* "$D"/osd/ceph-0/* "$D"/*.keyring "$D/monmap"
  FSID=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CONF" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $D/admin.keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon data avail warn = 1
ms bind msgr1 = false
[mon]
mon data = $D/mon/\$cluster-\$id
[osd]
osd data = $D/osd/\$cluster-\$id
osd objectstore = bluestore
bluestore block create = true
bluestore block size = $(numfmt --from=iec "$OSD_SIZE")
bluestore block db create = false
bluestore block wal create = false
keyring = $D/osd/\$cluster-\$id/keyring
[client.rgw.s3]
keyring = $D/rgw.keyring
rgw frontends = beast port=$RGW_PORT
rgw data = $D/rgw
CONF
  ceph-authtool --create-keyring "$D/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$D/admin.keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool --create-keyring "$D/osd/ceph-0/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool --create-keyring "$D/rgw.keyring" --gen-key -n client.rgw.s3 --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
  for keyring in admin.keyring osd/ceph-0/keyring rgw.keyring; do ceph-authtool "$D/mon.keyring" --import-keyring "$D/$keyring" >/dev/null; done
  monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$FSID" "$D/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$D/mon.keyring"
fi

ceph-mon -c "$CONF" -i a -f &
if [ ! -f "$D/ready" ]; then
  ceph -c "$CONF" --connect-timeout 60 osd create >/dev/null
  ceph-osd -c "$CONF" -i 0 --mkfs >/dev/null 2>&1
  ceph -c "$CONF" osd crush add osd.0 1 root=default host=localhost >/dev/null
fi
ceph-osd -c "$CONF" -i 0 -f &
until ceph -c "$CONF" --connect-timeout 10 osd stat 2>/dev/null | grep -q "1 up"; do sleep 1; done
radosgw -c "$CONF" -n client.rgw.s3 -f &
until curl -fs -o /dev/null "http://127.0.0.1:$RGW_PORT/"; do sleep 1; done
if [ ! -f "$D/ready" ]; then
  radosgw-admin -c "$CONF" -n client.admin user create --uid pipeline --display-name pipeline --access-key "$S3_ACCESS_KEY_ID" --secret "$S3_SECRET_ACCESS_KEY" >/dev/null
  touch "$D/ready"
fi
# The bucket, signed as the user (curl's --aws-sigv4, with the SHA-256 of the empty body RGW
# wants signed); one that is there already answers 409, which is fine.
curl -fs -o /dev/null -X PUT -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" --user "$S3_ACCESS_KEY_ID:$S3_SECRET_ACCESS_KEY" --aws-sigv4 "aws:amz:us-east-1:s3" "http://127.0.0.1:$RGW_PORT/$S3_BUCKET" || true
echo "S3 answers on port $RGW_PORT, bucket $S3_BUCKET"
# One daemon gone is the container gone: its restart policy starts them all again.
wait -n
exit 1
