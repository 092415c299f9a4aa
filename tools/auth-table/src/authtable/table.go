package main

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/auth/authpb"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
)

// table: one call per method. Arguments name keys under /data/ (which bob may not touch) and
// IDs that do not exist where a call would otherwise change membership, so a call let through
// shows as an answer or a changed state rather than breaking the member.
func table(leaseID, leaseWithKey int64) []call {
	data, dataEnd := []byte("/data/"), []byte("/data0")
	const bogusID = 0x1234
	n := func(k int) string { return fmt.Sprintf("n=%d", k) }
	leader := &v3electionpb.LeaderKey{Name: []byte("/data/elec"), Key: []byte("/data/elec/x"), Rev: 1, Lease: leaseID}
	return []call{
		{"KV/Range", func(ctx context.Context) (string, error) {
			r, err := kv.Range(ctx, &pb.RangeRequest{Key: data, RangeEnd: dataEnd})
			if err != nil {
				return "", err
			}
			return n(len(r.Kvs)), nil
		}},
		{"KV/Range-serializable", func(ctx context.Context) (string, error) {
			r, err := kv.Range(ctx, &pb.RangeRequest{Key: data, RangeEnd: dataEnd, Serializable: true})
			if err != nil {
				return "", err
			}
			return n(len(r.Kvs)), nil
		}},
		{"KV/Put", func(ctx context.Context) (string, error) {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("/data/a"), Value: []byte("changed")})
			return "", err
		}},
		{"KV/DeleteRange", func(ctx context.Context) (string, error) {
			r, err := kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: data, RangeEnd: dataEnd})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("deleted=%d", r.Deleted), nil
		}},
		{"KV/Txn", func(ctx context.Context) (string, error) {
			r, err := kv.Txn(ctx, &pb.TxnRequest{
				Compare: []*pb.Compare{{Key: []byte("/data/a"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/data/t"), Value: []byte("x")}}}},
			})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("succeeded=%v", r.Succeeded), nil
		}},
		{"KV/Txn-read", func(ctx context.Context) (string, error) {
			r, err := kv.Txn(ctx, &pb.TxnRequest{
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: data, RangeEnd: dataEnd}}}},
			})
			if err != nil {
				return "", err
			}
			return n(len(r.Responses)), nil
		}},
		{"KV/Compact", func(ctx context.Context) (string, error) {
			_, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: 3})
			return "", err
		}},
		{"Watch/Watch", func(ctx context.Context) (string, error) {
			w, err := watch.Watch(ctx)
			if err != nil {
				return "", err
			}
			err = w.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
				Key: data, RangeEnd: dataEnd, StartRevision: 1}}})
			if err != nil {
				return "", err
			}
			r, err := w.Recv()
			if err != nil {
				return "", err
			}
			events := len(r.Events)
			if r.Created && !r.Canceled {
				got := make(chan int, 1)
				go func() {
					if more, err := w.Recv(); err == nil {
						got <- len(more.Events)
					}
				}()
				select {
				case k := <-got:
					events += k
				case <-time.After(500 * time.Millisecond):
				}
			}
			return fmt.Sprintf("created=%v canceled=%v reason=%q events=%d", r.Created, r.Canceled, r.CancelReason, events), nil
		}},
		{"Lease/LeaseGrant", func(ctx context.Context) (string, error) {
			_, err := lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 600})
			return "", err
		}},
		{"Lease/LeaseRevoke", func(ctx context.Context) (string, error) {
			_, err := lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: leaseWithKey})
			return "", err
		}},
		{"Lease/LeaseKeepAlive", func(ctx context.Context) (string, error) {
			s, err := lease.LeaseKeepAlive(ctx)
			if err != nil {
				return "", err
			}
			if err := s.Send(&pb.LeaseKeepAliveRequest{ID: leaseID}); err != nil {
				return "", err
			}
			return firstMessage(func() (string, error) {
				r, err := s.Recv()
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("ttl>0=%v", r.TTL > 0), nil
			})
		}},
		{"Lease/LeaseTimeToLive", func(ctx context.Context) (string, error) {
			r, err := lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: leaseWithKey, Keys: true})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("keys=%q", r.Keys), nil
		}},
		{"Lease/LeaseLeases", func(ctx context.Context) (string, error) {
			r, err := lease.LeaseLeases(ctx, &pb.LeaseLeasesRequest{})
			if err != nil {
				return "", err
			}
			return n(len(r.Leases)), nil
		}},
		{"Cluster/MemberAdd", func(ctx context.Context) (string, error) {
			_, err := cluster.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:1"}, IsLearner: true})
			return "", err
		}},
		{"Cluster/MemberRemove", func(ctx context.Context) (string, error) {
			_, err := cluster.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: bogusID})
			return "", err
		}},
		{"Cluster/MemberUpdate", func(ctx context.Context) (string, error) {
			_, err := cluster.MemberUpdate(ctx, &pb.MemberUpdateRequest{ID: bogusID, PeerURLs: []string{"http://127.0.0.1:2"}})
			return "", err
		}},
		{"Cluster/MemberList", func(ctx context.Context) (string, error) {
			r, err := cluster.MemberList(ctx, &pb.MemberListRequest{})
			if err != nil {
				return "", err
			}
			return n(len(r.Members)), nil
		}},
		{"Cluster/MemberPromote", func(ctx context.Context) (string, error) {
			_, err := cluster.MemberPromote(ctx, &pb.MemberPromoteRequest{ID: bogusID})
			return "", err
		}},
		{"Maintenance/Alarm", func(ctx context.Context) (string, error) {
			r, err := maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
			if err != nil {
				return "", err
			}
			return n(len(r.Alarms)), nil
		}},
		{"Maintenance/Alarm-activate", func(ctx context.Context) (string, error) {
			_, err := maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, Alarm: pb.AlarmType_NOSPACE})
			// etcd 3.4 lets anyone raise an alarm; NOSPACE would refuse every later write.
			if err == nil {
				if e := asRoot(func(c context.Context) error {
					_, e := maint.Alarm(c, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, Alarm: pb.AlarmType_NOSPACE})
					return e
				}); e != nil {
					die("disarm", e)
				}
				return "disarmed", nil
			}
			return "", err
		}},
		{"Maintenance/Status", func(ctx context.Context) (string, error) {
			_, err := maint.Status(ctx, &pb.StatusRequest{})
			return "", err
		}},
		{"Maintenance/Defragment", func(ctx context.Context) (string, error) {
			_, err := maint.Defragment(ctx, &pb.DefragmentRequest{})
			return "", err
		}},
		{"Maintenance/Hash", func(ctx context.Context) (string, error) {
			_, err := maint.Hash(ctx, &pb.HashRequest{})
			return "", err
		}},
		{"Maintenance/HashKV", func(ctx context.Context) (string, error) {
			_, err := maint.HashKV(ctx, &pb.HashKVRequest{})
			return "", err
		}},
		{"Maintenance/Snapshot", func(ctx context.Context) (string, error) {
			s, err := maint.Snapshot(ctx, &pb.SnapshotRequest{})
			if err != nil {
				return "", err
			}
			return firstMessage(func() (string, error) {
				r, err := s.Recv()
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("blob=%v", len(r.Blob) > 0), nil
			})
		}},
		{"Maintenance/MoveLeader", func(ctx context.Context) (string, error) {
			_, err := maint.MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: bogusID})
			return "", err
		}},
		{"Auth/AuthEnable", func(ctx context.Context) (string, error) {
			_, err := auth.AuthEnable(ctx, &pb.AuthEnableRequest{})
			return "", err
		}},
		{"Auth/AuthDisable", func(ctx context.Context) (string, error) {
			_, err := auth.AuthDisable(ctx, &pb.AuthDisableRequest{})
			return "", err
		}},
		{"Auth/Authenticate", func(ctx context.Context) (string, error) {
			r, err := auth.Authenticate(ctx, &pb.AuthenticateRequest{Name: "bob", Password: "bobpw"})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("token=%v", r.Token != ""), nil
		}},
		{"Auth/UserAdd", func(ctx context.Context) (string, error) {
			_, err := auth.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "eve", Password: "evepw"})
			return "", err
		}},
		{"Auth/UserGet", func(ctx context.Context) (string, error) {
			r, err := auth.UserGet(ctx, &pb.AuthUserGetRequest{Name: "alice"})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("roles=%v", r.Roles), nil
		}},
		{"Auth/UserList", func(ctx context.Context) (string, error) {
			r, err := auth.UserList(ctx, &pb.AuthUserListRequest{})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("users=%v", r.Users), nil
		}},
		{"Auth/UserDelete", func(ctx context.Context) (string, error) {
			_, err := auth.UserDelete(ctx, &pb.AuthUserDeleteRequest{Name: "alice"})
			return "", err
		}},
		{"Auth/UserChangePassword", func(ctx context.Context) (string, error) {
			_, err := auth.UserChangePassword(ctx, &pb.AuthUserChangePasswordRequest{Name: "alice", Password: "x"})
			return "", err
		}},
		{"Auth/UserGrantRole", func(ctx context.Context) (string, error) {
			_, err := auth.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "bob", Role: "root"})
			return "", err
		}},
		{"Auth/UserRevokeRole", func(ctx context.Context) (string, error) {
			_, err := auth.UserRevokeRole(ctx, &pb.AuthUserRevokeRoleRequest{Name: "alice", Role: "rw-data"})
			return "", err
		}},
		{"Auth/RoleAdd", func(ctx context.Context) (string, error) {
			_, err := auth.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "new-role"})
			return "", err
		}},
		{"Auth/RoleGet", func(ctx context.Context) (string, error) {
			r, err := auth.RoleGet(ctx, &pb.AuthRoleGetRequest{Role: "rw-data"})
			if err != nil {
				return "", err
			}
			return n(len(r.Perm)), nil
		}},
		{"Auth/RoleList", func(ctx context.Context) (string, error) {
			r, err := auth.RoleList(ctx, &pb.AuthRoleListRequest{})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("roles=%v", r.Roles), nil
		}},
		{"Auth/RoleDelete", func(ctx context.Context) (string, error) {
			_, err := auth.RoleDelete(ctx, &pb.AuthRoleDeleteRequest{Role: "rw-data"})
			return "", err
		}},
		{"Auth/RoleGrantPermission", func(ctx context.Context) (string, error) {
			_, err := auth.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "r-other",
				Perm: &authpb.Permission{PermType: authpb.READWRITE, Key: data, RangeEnd: dataEnd}})
			return "", err
		}},
		{"Auth/RoleRevokePermission", func(ctx context.Context) (string, error) {
			_, err := auth.RoleRevokePermission(ctx, &pb.AuthRoleRevokePermissionRequest{Role: "rw-data", Key: data, RangeEnd: dataEnd})
			return "", err
		}},
		{"Lock/Lock", func(ctx context.Context) (string, error) {
			_, err := lock.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/data/lock"), Lease: leaseID})
			return "", err
		}},
		{"Lock/Unlock", func(ctx context.Context) (string, error) {
			_, err := lock.Unlock(ctx, &v3lockpb.UnlockRequest{Key: []byte("/data/a")})
			return "", err
		}},
		{"Election/Campaign", func(ctx context.Context) (string, error) {
			_, err := election.Campaign(ctx, &v3electionpb.CampaignRequest{Name: []byte("/data/elec"), Lease: leaseID, Value: []byte("v")})
			return "", err
		}},
		{"Election/Proclaim", func(ctx context.Context) (string, error) {
			_, err := election.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: leader, Value: []byte("w")})
			return "", err
		}},
		{"Election/Leader", func(ctx context.Context) (string, error) {
			_, err := election.Leader(ctx, &v3electionpb.LeaderRequest{Name: []byte("/data/")})
			return "", err
		}},
		{"Election/Observe", func(ctx context.Context) (string, error) {
			s, err := election.Observe(ctx, &v3electionpb.LeaderRequest{Name: []byte("/data/")})
			if err != nil {
				return "", err
			}
			return firstMessage(func() (string, error) {
				r, err := s.Recv()
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("kv=%v", r.Kv != nil), nil
			})
		}},
		{"Election/Resign", func(ctx context.Context) (string, error) {
			_, err := election.Resign(ctx, &v3electionpb.ResignRequest{Leader: leader})
			return "", err
		}},
	}
}
