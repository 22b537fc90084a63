package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/podspec"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
	"github.com/tagpin/tagpin/internal/webhook"
)

// auditCheckConcurrency bounds the digests --check-registry checks at
// once (the resolver bounds each registry host on top).
const auditCheckConcurrency = 8

// podFindings returns the unpinned images of pod and those off their
// revision's pin.
func (a *auditor) podFindings(ctx context.Context, pod *corev1.Pod, pins map[pinKey]*auditPin) ([]auditFinding, error) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil, nil // it will not run again
	}
	checkUnpinned := !slices.Contains(a.skip, pod.Namespace) && pod.Annotations[podspec.AnnotationSkip] != "true"
	records, annotated := podRecords(pod)
	owner, hasOwner := webhook.RevisionOwner(pod)
	var out []auditFinding
	for _, img := range podspec.Images(pod) {
		f := auditFinding{Namespace: pod.Namespace, Kind: "Pod", Name: pod.Name, Image: img.Ref, Field: imageField(img)}
		if hasOwner {
			f.Owner = &auditObject{Kind: owner.Kind, Name: owner.Name}
		}
		rec, hasRecord := records[f.Field]
		ref, err := imageref.Parse(img.Ref)
		switch {
		case err != nil || !ref.Pinned():
			if !checkUnpinned {
				continue
			}
			f.Finding = findingUnpinned
			f.Detail = unpinnedWhy(img, err, annotated, hasRecord, rec)
		case hasOwner && hasRecord:
			orig, err := imageref.Parse(rec.Original)
			if err != nil || orig.WithDigest(ref.Digest) != img.Ref {
				continue // the record is not of this image
			}
			pin, ok := pins[pinKey{pod.Namespace, owner.Kind, owner.UID, owner.Revision, rec.Original}]
			if !ok || pin.Digest == ref.Digest.String() {
				continue
			}
			f.Finding = findingOffPin
			f.Digest, f.PinnedDigest = ref.Digest.String(), pin.Digest
			f.Detail = fmt.Sprintf("%s %s runs %s; its %s %s is pinned to %s",
				img.Kind, img.Name, shortDigests(ref.Digest), owner.Kind, revisionName(owner), shortDigest(pin.Digest))
		default:
			continue
		}
		workload, restart, recreate, err := a.remedy(ctx, pod)
		if err != nil {
			return nil, err
		}
		f.Workload, f.Restart, f.Recreate = workload, restart, recreate
		out = append(out, f)
	}
	return out, nil
}

// podRecords returns the entries of pod's tagpin.dev/images annotation
// by field, and whether the pod has a readable one.
func podRecords(pod *corev1.Pod) (map[string]podspec.Record, bool) {
	raw, ok := pod.Annotations[podspec.AnnotationImages]
	if !ok {
		return nil, false
	}
	var records map[string]podspec.Record
	if err := json.Unmarshal([]byte(raw), &records); err != nil {
		return nil, false
	}
	return records, true
}

// imageField names an image's field as the tagpin.dev/images annotation
// does: container/web, volume/models.
func imageField(img podspec.Image) string { return string(img.Kind) + "/" + img.Name }

// unpinnedWhy says why an image is not pinned, as far as the pod tells.
func unpinnedWhy(img podspec.Image, parseErr error, annotated, hasRecord bool, rec podspec.Record) string {
	what := fmt.Sprintf("%s %s", img.Kind, img.Name)
	switch {
	case parseErr != nil:
		return fmt.Sprintf("%s: not an image reference tagpin can pin (%v)", what, parseErr)
	case hasRecord:
		return fmt.Sprintf("%s: changed after admission (tagpin pinned %s to %s; it pins at creation)", what, rec.Original, shortDigest(rec.Digest))
	case annotated && img.Kind == podspec.EphemeralContainer:
		return what + ": added while the webhook was down or not called, or left alone by its filters"
	case annotated:
		return what + ": the webhook pinned other images of this pod, not this one: left alone by its filters, or it could not be resolved at admission"
	}
	return what + ": admitted without tagpin (no " + podspec.AnnotationImages + " annotation): the webhook was down or not called, " +
		"or pinned nothing (filters, audit mode, resolution failed)"
}

// revisionName names an owner's revision: web-6d4cf56db6, or db
// revision db-7b9c8 for a StatefulSet.
func revisionName(o store.Owner) string {
	if o.Revision == "" {
		return o.Name
	}
	return o.Name + " revision " + o.Revision
}

// digestFindings returns the pins whose digest vanished upstream: from
// the cluster's records, and with --check-registry from the registries.
func (a *auditor) digestFindings(ctx context.Context, pins []auditPin) ([]auditFinding, error) {
	out, err := a.recordedMissingDigests(ctx, pins)
	if err != nil || a.resolver == nil {
		return out, err
	}
	reported := map[string]bool{}
	for _, f := range out {
		reported[f.Namespace+"/"+f.Name+" "+f.Image] = true
	}
	var unreported []auditPin
	for _, p := range pins {
		if !reported[p.Namespace+"/"+p.Name+" "+p.Image] {
			unreported = append(unreported, p)
		}
	}
	return append(out, a.checkDigests(ctx, unreported)...), nil
}

// recordedMissingDigests returns, as PinnedDigestMissing findings, the
// pins whose digest the webhook's vanished-digest watch found missing
// upstream: those it marked missing (auditPin.MissingSince).
func (a *auditor) recordedMissingDigests(_ context.Context, pins []auditPin) ([]auditFinding, error) {
	var out []auditFinding
	for i := range pins {
		p := &pins[i]
		since := p.MissingSince
		if since == "" {
			continue
		}
		when := since
		if t, err := time.Parse(time.RFC3339, since); err == nil {
			when = t.UTC().Format(time.RFC3339) + " (" + duration.HumanDuration(a.now.Sub(t)) + " ago)"
		}
		out = append(out, pinFinding(p, findingDigestMissing, fmt.Sprintf(
			"%s %s is pinned to %s, which the registry no longer has (tagpin's check found it missing since %s): its pods cannot be scheduled again; roll out a new revision to pin the tag's current digest",
			p.Owner.Kind, revisionName(pinOwner(p)), shortDigest(p.Digest), when)))
	}
	return out, nil
}

// checkDigests asks the registries, one HEAD by digest per distinct
// repository and digest, whether the pins' digests exist.
func (a *auditor) checkDigests(ctx context.Context, pins []auditPin) []auditFinding {
	type check struct {
		ref  imageref.Reference
		err  error
		pins []*auditPin
	}
	checks := map[string]*check{}
	var out []auditFinding
	for i := range pins {
		p := &pins[i]
		ref, err := imageref.Parse(p.Image)
		d, derr := digest.Parse(p.Digest)
		if err != nil || derr != nil {
			out = append(out, pinFinding(p, findingDigestUnchecked,
				fmt.Sprintf("the pin's image %q or digest %q is not valid: delete the RevisionPin and restart the workload", p.Image, p.Digest)))
			continue
		}
		ref.Digest = d
		key := ref.Repository() + "@" + d.String()
		c, ok := checks[key]
		if !ok {
			c = &check{ref: ref}
			checks[key] = c
		}
		c.pins = append(c.pins, p)
	}
	keys := make([]string, 0, len(checks))
	for k := range checks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var g errgroup.Group
	g.SetLimit(auditCheckConcurrency)
	for _, k := range keys {
		c := checks[k]
		g.Go(func() error {
			_, c.err = a.resolver.Resolve(ctx, c.ref) // each goroutine its own check
			return nil
		})
	}
	_ = g.Wait() // the checks report into checks, not through errors
	for _, k := range keys {
		c := checks[k]
		for _, p := range c.pins {
			switch {
			case c.err == nil:
			case errors.Is(c.err, resolve.ErrNotFound):
				out = append(out, pinFinding(p, findingDigestMissing, fmt.Sprintf(
					"%s %s is pinned to %s, which the registry no longer has: its pods cannot be scheduled again; roll out a new revision to pin the tag's current digest",
					p.Owner.Kind, revisionName(pinOwner(p)), shortDigest(p.Digest))))
			default:
				out = append(out, pinFinding(p, findingDigestUnchecked, fmt.Sprintf("checking %s: %v", shortDigest(p.Digest), withAdvice(c.err))))
			}
		}
	}
	return out
}

func pinOwner(p *auditPin) store.Owner {
	return store.Owner{Kind: p.Owner.Kind, Name: p.Owner.Name, UID: p.Owner.UID, Revision: p.Owner.Revision}
}

func pinFinding(p *auditPin, finding, detail string) auditFinding {
	return auditFinding{
		Namespace: p.Namespace, Kind: "RevisionPin", Name: p.Name, Image: p.Image,
		Finding: finding, Detail: detail, Digest: p.Digest,
		Owner: &auditObject{Kind: p.Owner.Kind, Name: p.Owner.Name},
	}
}

// staleTags returns the records of tags the pins use whose digest was
// last verified longer ago than staleAfter: the public record, and the
// pin's namespace's when there is one.
func (a *auditor) staleTags(pins []auditPin, tags map[store.TagKey]tagRecord) []auditFinding {
	users := map[store.TagKey][]string{}
	for i := range pins {
		p := &pins[i]
		ref, err := imageref.Parse(p.Image)
		if err != nil || !ref.HasTag() {
			continue
		}
		for _, scope := range []store.Scope{store.Public, store.Scope(p.Namespace)} {
			key := track.Key(ref, scope)
			if _, ok := tags[key]; ok && !slices.Contains(users[key], p.Namespace+"/"+p.Owner.Name) {
				users[key] = append(users[key], p.Namespace+"/"+p.Owner.Name)
			}
		}
	}
	var out []auditFinding
	for key, used := range users {
		t := tags[key]
		age := a.now.Sub(t.lastVerified)
		if age <= a.staleAfter {
			continue
		}
		slices.Sort(used)
		by := strings.Join(used, ", ")
		if len(used) > 3 {
			by = strings.Join(used[:3], ", ") + fmt.Sprintf(" and %d more", len(used)-3)
		}
		verified := t.lastVerified
		out = append(out, auditFinding{
			Namespace: t.namespace, Kind: t.kind, Name: t.name, Image: t.image, Finding: findingStale,
			Detail: fmt.Sprintf("last verified %s ago (--stale-after %s); used by %s; the webhook's fallback digest may be out of date",
				duration.HumanDuration(age), a.staleAfter, by),
			LastVerified: &verified,
		})
	}
	return out
}
