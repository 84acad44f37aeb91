package sdk

import pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"

func specToPB(s InstanceSpec) *pluginpb.InstanceSpec {
	return &pluginpb.InstanceSpec{Id: s.ID, Url: s.URL, Scheme: s.Scheme, Listen: s.Listen,
		Targets: s.Targets, Agent: s.Agent, Params: s.Params}
}

func specFromPB(p *pluginpb.InstanceSpec) InstanceSpec {
	if p == nil {
		return InstanceSpec{}
	}
	return InstanceSpec{ID: p.GetId(), URL: p.GetUrl(), Scheme: p.GetScheme(), Listen: p.GetListen(),
		Targets: p.GetTargets(), Agent: p.GetAgent(), Params: p.GetParams()}
}

func descToPB(d Descriptor) *pluginpb.Descriptor {
	out := &pluginpb.Descriptor{Name: d.Name, Version: d.Version, SdkVersion: d.SDKVersion,
		Schemes: d.Schemes, Capabilities: d.Capabilities}
	for _, p := range d.Params {
		out.Params = append(out.Params, &pluginpb.Param{Name: p.Name, Type: p.Type, Default: p.Default, Help: p.Help})
	}
	return out
}

func descFromPB(p *pluginpb.Descriptor) Descriptor {
	d := Descriptor{Name: p.GetName(), Version: p.GetVersion(), SDKVersion: p.GetSdkVersion(),
		Schemes: p.GetSchemes(), Capabilities: p.GetCapabilities()}
	for _, x := range p.GetParams() {
		d.Params = append(d.Params, Param{Name: x.GetName(), Type: x.GetType(), Default: x.GetDefault(), Help: x.GetHelp()})
	}
	return d
}
